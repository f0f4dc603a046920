
FROM openbmc/ubuntu-unit-test-base:2021-W06-2e8f7b8a8cfe2675

RUN curl -L https://github.com/openbmc/gpioplus/archive/0ca769233da020d2041c807ecc0b0286e002800c.tar.gz | tar -xz && cd gpioplus* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dexamples=false -Dtests=disabled && ninja -C builddir && ninja -C builddir install
