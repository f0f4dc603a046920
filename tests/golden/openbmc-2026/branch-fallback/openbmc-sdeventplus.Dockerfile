
FROM openbmc/ubuntu-unit-test-base:2021-W06-53b5a3c65fb874b7
COPY --from=openbmc/ubuntu-unit-test-openbmc-stdplus:2021-W06-d17cdd4d8cb64b97 /usr/local /usr/local
RUN true

RUN curl -L https://github.com/openbmc/sdeventplus/archive/34416c5ec3799ddde8889e9c9ae0d9fff1d46851.tar.gz | tar -xz && cd sdeventplus* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dexamples=false -Dtests=disabled && ninja -C builddir && ninja -C builddir install
