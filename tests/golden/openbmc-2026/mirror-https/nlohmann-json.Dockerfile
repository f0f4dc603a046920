
FROM openbmc/ubuntu-unit-test-base:2021-W06-2e8f7b8a8cfe2675

RUN curl -L https://github.com/nlohmann/json/archive/v3.12.0.tar.gz | tar -xz && cd json* && mkdir builddir && cd builddir &&  cmake -DBUILD_SHARED_LIBS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX:PATH=/usr/local -GNinja -DCMAKE_MAKE_PROGRAM=ninja -DJSON_BuildTests=OFF .. && cmake --build . --target all && cmake --build . --target install && cd .. && ln -s /usr/local/include/nlohmann/json.hpp /usr/local/include/json.hpp
