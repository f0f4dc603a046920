
FROM openbmc/ubuntu-unit-test-base:2021-W06-2e8f7b8a8cfe2675

RUN curl -L https://github.com/google/googletest/archive/v1.16.0.tar.gz | tar -xz && cd googletest* && mkdir builddir && cd builddir && CXXFLAGS=-std=c++20 cmake -DBUILD_SHARED_LIBS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX:PATH=/usr/local -GNinja -DCMAKE_MAKE_PROGRAM=ninja -DTHREADS_PREFER_PTHREAD_FLAG=ON .. && cmake --build . --target all && cmake --build . --target install && cd ..
