
FROM openbmc/ubuntu-unit-test-base:2021-W06-2e8f7b8a8cfe2675

RUN curl -L https://git.kernel.org/pub/scm/libs/libgpiod/libgpiod.git/snapshot/libgpiod-1.6.5.tar.gz | tar -xz && cd libgpiod* &&  ./autogen.sh --prefix=/usr/local --enable-bindings-cxx && make && make install
