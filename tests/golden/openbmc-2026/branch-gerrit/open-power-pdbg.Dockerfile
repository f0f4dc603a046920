
FROM openbmc/ubuntu-unit-test-base:2021-W06-53b5a3c65fb874b7

RUN curl -L https://github.com/open-power/pdbg/archive/38fddc9f6567545d691855c83505d0d8bf25cfe9.tar.gz | tar -xz && cd pdbg* && ./bootstrap.sh &&  ./configure --prefix=/usr/local  && make -j2 && make install
