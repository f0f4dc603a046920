
FROM openbmc/ubuntu-unit-test-base:2021-W06-2e8f7b8a8cfe2675

RUN curl -L https://github.com/openbmc/libpldm/archive/1029114549dccf159715547e708f350690a0cdc6.tar.gz | tar -xz && cd libpldm* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dabi=deprecated,stable -Dtests=false -Dabi-compliance-check=false && ninja -C builddir && ninja -C builddir install
