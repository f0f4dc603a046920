
FROM acme/unit-base:2021-W06-76ffc5b405ed5331

RUN curl -L https://github.com/json-c/json-c/archive/json-c-0.18-20240915.tar.gz | tar -xz && cd json-c* && mkdir builddir && cd builddir &&  cmake -DBUILD_SHARED_LIBS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX:PATH=/usr/local -GNinja -DCMAKE_MAKE_PROGRAM=ninja -DCMAKE_POLICY_VERSION_MINIMUM=3.5 .. && cmake --build . --target all && cmake --build . --target install && cd ..
