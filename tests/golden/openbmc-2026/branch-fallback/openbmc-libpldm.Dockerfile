
FROM openbmc/ubuntu-unit-test-base:2021-W06-53b5a3c65fb874b7

RUN curl -L https://github.com/openbmc/libpldm/archive/9e6a017bf6c3ee2de9018ab85ae75f2309332ac1.tar.gz | tar -xz && cd libpldm* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dabi=deprecated,stable -Dtests=false -Dabi-compliance-check=false && ninja -C builddir && ninja -C builddir install
