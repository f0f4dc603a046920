
FROM openbmc/ubuntu-unit-test-base:2021-W06-53b5a3c65fb874b7
COPY --from=openbmc/ubuntu-unit-test-openbmc-sdbusplus:2021-W06-4e5c04c5f897fccf /usr/local /usr/local
RUN true

RUN curl -L https://github.com/openbmc/phosphor-dbus-interfaces/archive/968a39c61774a1eadfff239f7e372c78216bbf3b.tar.gz | tar -xz && cd phosphor-dbus-interfaces* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dgenerate_md=false && ninja -C builddir && ninja -C builddir install
