
FROM openbmc/ubuntu-unit-test-base:2021-W06-2e8f7b8a8cfe2675

RUN curl -L https://github.com/fmtlib/fmt/archive/11.2.0.tar.gz | tar -xz && cd fmt* && mkdir builddir && cd builddir &&  cmake -DBUILD_SHARED_LIBS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX:PATH=/usr/local -GNinja -DCMAKE_MAKE_PROGRAM=ninja -DFMT_DOC=OFF -DFMT_TEST=OFF .. && cmake --build . --target all && cmake --build . --target install && cd ..
