
FROM openbmc/ubuntu-unit-test-base:2021-W06-2e8f7b8a8cfe2675
COPY --from=openbmc/ubuntu-unit-test-uscilab-cereal:2021-W06-ec8a6dff6c899b6c /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-phosphor-dbus-interfaces:2021-W06-4b0eefa4f53fcdb5 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-sdbusplus:2021-W06-4deb280055beb872 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-sdeventplus:2021-W06-53d40bfcde9ced60 /usr/local /usr/local
RUN true

RUN curl -L https://github.com/openbmc/phosphor-logging/archive/5443afa8c3876c84920998fc3e9acbe746430493.tar.gz | tar -xz && cd phosphor-logging* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dlibonly=true -Dtests=disabled && ninja -C builddir && ninja -C builddir install
