
FROM acme/unit-base:2021-W06-76ffc5b405ed5331

RUN curl -L https://github.com/tristanpenman/valijson/archive/v1.0.5.tar.gz | tar -xz && cd valijson* && mkdir builddir && cd builddir &&  cmake -DBUILD_SHARED_LIBS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX:PATH=/usr/local -GNinja -DCMAKE_MAKE_PROGRAM=ninja -Dvalijson_BUILD_TESTS=0 -Dvalijson_INSTALL_HEADERS=1 .. && cmake --build . --target all && cmake --build . --target install && cd ..
