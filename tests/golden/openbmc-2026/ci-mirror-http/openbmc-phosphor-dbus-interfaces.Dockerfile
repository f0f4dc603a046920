
FROM acme/unit-base:2021-W06-76ffc5b405ed5331
COPY --from=acme/unit-openbmc-sdbusplus:2021-W06-4ee58ff1d42db3fc /usr/local /usr/local
RUN true

RUN curl -L https://github.com/openbmc/phosphor-dbus-interfaces/archive/9325f7dbe6ca1f2a61229eb0f7b2c096cb0c529f.tar.gz | tar -xz && cd phosphor-dbus-interfaces* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dgenerate_md=false && ninja -C builddir && ninja -C builddir install
