
FROM openbmc/ubuntu-unit-test-base:2021-W06-53b5a3c65fb874b7
COPY --from=openbmc/ubuntu-unit-test-openbmc-sdbusplus:2021-W06-16baa4621b634ac3 /usr/local /usr/local
RUN true

RUN curl -L https://github.com/openbmc/phosphor-dbus-interfaces/archive/7f9294b8b2b721e20a471b44edc1b46bee45a64b.tar.gz | tar -xz && cd phosphor-dbus-interfaces* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dgenerate_md=false && ninja -C builddir && ninja -C builddir install
