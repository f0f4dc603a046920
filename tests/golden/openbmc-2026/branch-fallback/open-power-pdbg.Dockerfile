
FROM openbmc/ubuntu-unit-test-base:2021-W06-53b5a3c65fb874b7

RUN curl -L https://github.com/open-power/pdbg/archive/022a0cc3ccbcc0a2d572cfbef12f069924e30e72.tar.gz | tar -xz && cd pdbg* && ./bootstrap.sh &&  ./configure --prefix=/usr/local  && make -j2 && make install
