
FROM openbmc/ubuntu-unit-test-base:2021-W06-53b5a3c65fb874b7
COPY --from=openbmc/ubuntu-unit-test-cliutils-cli11:2021-W06-fe3833a52630fd4e /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-boost:2021-W06-afb163411bede05b /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-leethomason-tinyxml2:2021-W06-99f5b8f788f17601 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-phosphor-dbus-interfaces:2021-W06-839d22f0bb710d40 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-phosphor-logging:2021-W06-1335739238526e1d /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-sdbusplus:2021-W06-16baa4621b634ac3 /usr/local /usr/local
RUN true

RUN curl -L https://github.com/openbmc/phosphor-objmgr/archive/4ec013ef469bac814d1690e6b63fffbb6f01e9a2.tar.gz | tar -xz && cd phosphor-objmgr* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dtests=disabled && ninja -C builddir && ninja -C builddir install
