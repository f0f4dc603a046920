
FROM openbmc/ubuntu-unit-test-base:2021-W06-2e8f7b8a8cfe2675

RUN curl -L https://github.com/open-power/pdbg/archive/55288ef80d797e2f60cf3d46fb2c6e420ec0dddf.tar.gz | tar -xz && cd pdbg* && ./bootstrap.sh &&  ./configure --prefix=/usr/local  && make -j2 && make install
