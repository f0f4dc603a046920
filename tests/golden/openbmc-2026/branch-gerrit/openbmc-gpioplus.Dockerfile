
FROM openbmc/ubuntu-unit-test-base:2021-W06-53b5a3c65fb874b7

RUN curl -L https://github.com/openbmc/gpioplus/archive/7fe65ea97c56bb0bf45feba5f1d9cf927f23bed7.tar.gz | tar -xz && cd gpioplus* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dexamples=false -Dtests=disabled && ninja -C builddir && ninja -C builddir install
