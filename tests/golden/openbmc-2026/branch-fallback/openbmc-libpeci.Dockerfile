
FROM openbmc/ubuntu-unit-test-base:2021-W06-53b5a3c65fb874b7

RUN curl -L https://github.com/openbmc/libpeci/archive/2d0032e486df6e0686078025b04652bf331026ab.tar.gz | tar -xz && cd libpeci* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Draw-peci=disabled && ninja -C builddir && ninja -C builddir install
