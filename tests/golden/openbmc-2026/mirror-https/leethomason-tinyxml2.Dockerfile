
FROM openbmc/ubuntu-unit-test-base:2021-W06-2e8f7b8a8cfe2675

RUN curl -L https://github.com/leethomason/tinyxml2/archive/11.0.0.tar.gz | tar -xz && cd tinyxml2* && mkdir builddir && cd builddir &&  cmake -DBUILD_SHARED_LIBS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX:PATH=/usr/local -GNinja -DCMAKE_MAKE_PROGRAM=ninja  .. && cmake --build . --target all && cmake --build . --target install && cd ..
