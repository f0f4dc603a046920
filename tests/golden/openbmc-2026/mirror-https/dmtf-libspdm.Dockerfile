
FROM openbmc/ubuntu-unit-test-base:2021-W06-2e8f7b8a8cfe2675

RUN curl -L https://github.com/DMTF/libspdm/archive/3.8.2.tar.gz | tar -xz && cd libspdm* && mkdir builddir && cd builddir &&  cmake -DBUILD_SHARED_LIBS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX:PATH=/usr/local -GNinja -DCMAKE_MAKE_PROGRAM=ninja -DARCH=x64 -DTOOLCHAIN=GCC -DTARGET=Release -DCRYPTO=openssl -DBUILD_LINUX_SHARED_LIB=ON -DENABLE_BINARY_BUILD=1 -DDISABLE_TESTS=1 -DCOMPILED_LIBCRYPTO_PATH=/usr/local/lib -DCOMPILED_LIBSSL_PATH=/usr/local/lib .. && cmake --build . --target all && cmake --build . --target install && cd ..
