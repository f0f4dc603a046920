
FROM openbmc/ubuntu-unit-test-base:2021-W06-2e8f7b8a8cfe2675

RUN curl -L https://github.com/openbmc/libpeci/archive/b15c20f22a2d9d768887902b2deb128e2d60328b.tar.gz | tar -xz && cd libpeci* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Draw-peci=disabled && ninja -C builddir && ninja -C builddir install
