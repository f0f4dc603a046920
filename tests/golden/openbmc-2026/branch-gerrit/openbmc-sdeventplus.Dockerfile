
FROM openbmc/ubuntu-unit-test-base:2021-W06-53b5a3c65fb874b7
COPY --from=openbmc/ubuntu-unit-test-openbmc-stdplus:2021-W06-2c9911adde30026e /usr/local /usr/local
RUN true

RUN curl -L https://github.com/openbmc/sdeventplus/archive/5c9bbc0432e479a6817d02a75e0e791c9c07503e.tar.gz | tar -xz && cd sdeventplus* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dexamples=false -Dtests=disabled && ninja -C builddir && ninja -C builddir install
