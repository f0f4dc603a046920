
FROM acme/unit-base:2021-W06-76ffc5b405ed5331

RUN curl -L https://git.kernel.org/pub/scm/libs/libgpiod/libgpiod.git/snapshot/libgpiod-1.6.5.tar.gz | tar -xz && cd libgpiod* &&  ./autogen.sh --prefix=/usr/local --enable-bindings-cxx && make && make install
