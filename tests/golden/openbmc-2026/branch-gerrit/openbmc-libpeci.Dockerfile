
FROM openbmc/ubuntu-unit-test-base:2021-W06-53b5a3c65fb874b7

RUN curl -L https://github.com/openbmc/libpeci/archive/769210a62c38848f47668c95c92fab2b8fcc7883.tar.gz | tar -xz && cd libpeci* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Draw-peci=disabled && ninja -C builddir && ninja -C builddir install
