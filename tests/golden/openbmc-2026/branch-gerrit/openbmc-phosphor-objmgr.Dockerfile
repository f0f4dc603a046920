
FROM openbmc/ubuntu-unit-test-base:2021-W06-53b5a3c65fb874b7
COPY --from=openbmc/ubuntu-unit-test-cliutils-cli11:2021-W06-fe3833a52630fd4e /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-boost:2021-W06-afb163411bede05b /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-leethomason-tinyxml2:2021-W06-99f5b8f788f17601 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-phosphor-dbus-interfaces:2021-W06-387ec35b427637a7 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-phosphor-logging:2021-W06-b682ff2c053a8e18 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-sdbusplus:2021-W06-4e5c04c5f897fccf /usr/local /usr/local
RUN true

RUN curl -L https://github.com/openbmc/phosphor-objmgr/archive/70005f864a4122445fe634a6ab87cecb33f0852f.tar.gz | tar -xz && cd phosphor-objmgr* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dtests=disabled && ninja -C builddir && ninja -C builddir install
