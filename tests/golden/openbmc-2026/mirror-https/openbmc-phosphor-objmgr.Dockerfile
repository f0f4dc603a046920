
FROM openbmc/ubuntu-unit-test-base:2021-W06-2e8f7b8a8cfe2675
COPY --from=openbmc/ubuntu-unit-test-cliutils-cli11:2021-W06-075c7b8961f69169 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-boost:2021-W06-1f56615c936fd95f /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-leethomason-tinyxml2:2021-W06-b7f9558cece48683 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-phosphor-dbus-interfaces:2021-W06-4b0eefa4f53fcdb5 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-phosphor-logging:2021-W06-c9d5ea9a783464e2 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-sdbusplus:2021-W06-4deb280055beb872 /usr/local /usr/local
RUN true

RUN curl -L https://github.com/openbmc/phosphor-objmgr/archive/753766a950d0821cfcd64fe430386f40b60b6cf7.tar.gz | tar -xz && cd phosphor-objmgr* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dtests=disabled && ninja -C builddir && ninja -C builddir install
