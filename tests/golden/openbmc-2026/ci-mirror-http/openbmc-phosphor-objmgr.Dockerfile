
FROM acme/unit-base:2021-W06-76ffc5b405ed5331
COPY --from=acme/unit-cliutils-cli11:2021-W06-dda4a5b8faea5d4e /usr/local /usr/local
RUN true
COPY --from=acme/unit-boost:2021-W06-c88946009246850c /usr/local /usr/local
RUN true
COPY --from=acme/unit-leethomason-tinyxml2:2021-W06-f5fbf3621ef25820 /usr/local /usr/local
RUN true
COPY --from=acme/unit-openbmc-phosphor-dbus-interfaces:2021-W06-c6e2135ca1963620 /usr/local /usr/local
RUN true
COPY --from=acme/unit-openbmc-phosphor-logging:2021-W06-e409a4af7bdc6158 /usr/local /usr/local
RUN true
COPY --from=acme/unit-openbmc-sdbusplus:2021-W06-4ee58ff1d42db3fc /usr/local /usr/local
RUN true

RUN curl -L https://github.com/openbmc/phosphor-objmgr/archive/753766a950d0821cfcd64fe430386f40b60b6cf7.tar.gz | tar -xz && cd phosphor-objmgr* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dtests=disabled && ninja -C builddir && ninja -C builddir install
