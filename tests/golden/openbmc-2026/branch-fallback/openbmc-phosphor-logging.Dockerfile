
FROM openbmc/ubuntu-unit-test-base:2021-W06-53b5a3c65fb874b7
COPY --from=openbmc/ubuntu-unit-test-uscilab-cereal:2021-W06-650760301959d701 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-phosphor-dbus-interfaces:2021-W06-839d22f0bb710d40 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-sdbusplus:2021-W06-16baa4621b634ac3 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-sdeventplus:2021-W06-cb5805b930046cad /usr/local /usr/local
RUN true

RUN curl -L https://github.com/openbmc/phosphor-logging/archive/1a10eae7c1e8c60b3e8e950df6a0437a6c83921c.tar.gz | tar -xz && cd phosphor-logging* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dlibonly=true -Dtests=disabled && ninja -C builddir && ninja -C builddir install
