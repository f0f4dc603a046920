
FROM acme/unit-base:2021-W06-76ffc5b405ed5331
COPY --from=acme/unit-uscilab-cereal:2021-W06-4c3bea9c4ba8e24d /usr/local /usr/local
RUN true
COPY --from=acme/unit-openbmc-phosphor-dbus-interfaces:2021-W06-c6e2135ca1963620 /usr/local /usr/local
RUN true
COPY --from=acme/unit-openbmc-sdbusplus:2021-W06-4ee58ff1d42db3fc /usr/local /usr/local
RUN true
COPY --from=acme/unit-openbmc-sdeventplus:2021-W06-ae80492f0305ef75 /usr/local /usr/local
RUN true

RUN curl -L https://github.com/openbmc/phosphor-logging/archive/5443afa8c3876c84920998fc3e9acbe746430493.tar.gz | tar -xz && cd phosphor-logging* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dlibonly=true -Dtests=disabled && ninja -C builddir && ninja -C builddir install
