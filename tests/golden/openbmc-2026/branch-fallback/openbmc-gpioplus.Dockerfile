
FROM openbmc/ubuntu-unit-test-base:2021-W06-53b5a3c65fb874b7

RUN curl -L https://github.com/openbmc/gpioplus/archive/346a780583b29c44fa9964ee07f111d6c9ad14e7.tar.gz | tar -xz && cd gpioplus* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dexamples=false -Dtests=disabled && ninja -C builddir && ninja -C builddir install
