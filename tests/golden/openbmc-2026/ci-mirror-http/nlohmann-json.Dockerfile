
FROM acme/unit-base:2021-W06-76ffc5b405ed5331

RUN curl -L https://github.com/nlohmann/json/archive/v3.12.0.tar.gz | tar -xz && cd json* && mkdir builddir && cd builddir &&  cmake -DBUILD_SHARED_LIBS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX:PATH=/usr/local -GNinja -DCMAKE_MAKE_PROGRAM=ninja -DJSON_BuildTests=OFF .. && cmake --build . --target all && cmake --build . --target install && cd .. && ln -s /usr/local/include/nlohmann/json.hpp /usr/local/include/json.hpp
