
FROM acme/unit-base:2021-W06-76ffc5b405ed5331

RUN curl -L https://github.com/CLIUtils/CLI11/archive/v2.6.1.tar.gz | tar -xz && cd CLI11* && mkdir builddir && cd builddir &&  cmake -DBUILD_SHARED_LIBS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX:PATH=/usr/local -GNinja -DCMAKE_MAKE_PROGRAM=ninja -DBUILD_TESTING=OFF -DCLI11_BUILD_DOCS=OFF -DCLI11_BUILD_EXAMPLES=OFF .. && cmake --build . --target all && cmake --build . --target install && cd ..
