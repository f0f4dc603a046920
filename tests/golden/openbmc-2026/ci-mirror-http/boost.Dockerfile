
FROM acme/unit-base:2021-W06-76ffc5b405ed5331

RUN curl -L https://github.com/boostorg/boost/releases/download/boost-1.90.0/boost-1.90.0-cmake.tar.gz | tar -xz && cd boost* && ./bootstrap.sh --prefix=/usr/local --with-libraries=atomic,context,coroutine,filesystem,process,url && ./b2 && ./b2 install --prefix=/usr/local valgrind=on
