
FROM acme/unit-base:2021-W06-76ffc5b405ed5331

RUN curl -L https://github.com/nghttp2/nghttp2/archive/v1.68.0.tar.gz | tar -xz && cd nghttp2* && mkdir builddir && cd builddir && CXXFLAGS=-std=c++23 cmake -DBUILD_SHARED_LIBS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX:PATH=/usr/local -GNinja -DCMAKE_MAKE_PROGRAM=ninja -DENABLE_LIB_ONLY=ON -DENABLE_STATIC_LIB=ON .. && cmake --build . --target all && cmake --build . --target install && cd ..
