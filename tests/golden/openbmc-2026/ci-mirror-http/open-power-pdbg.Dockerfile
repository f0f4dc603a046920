
FROM acme/unit-base:2021-W06-76ffc5b405ed5331

RUN curl -L https://github.com/open-power/pdbg/archive/55288ef80d797e2f60cf3d46fb2c6e420ec0dddf.tar.gz | tar -xz && cd pdbg* && ./bootstrap.sh &&  ./configure --prefix=/usr/local  && make -j2 && make install
