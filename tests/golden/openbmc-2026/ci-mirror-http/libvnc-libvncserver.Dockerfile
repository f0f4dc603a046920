
FROM acme/unit-base:2021-W06-76ffc5b405ed5331

RUN curl -L https://github.com/LibVNC/libvncserver/archive/LibVNCServer-0.9.15.tar.gz | tar -xz && cd libvncserver* && mkdir builddir && cd builddir &&  cmake -DBUILD_SHARED_LIBS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX:PATH=/usr/local -GNinja -DCMAKE_MAKE_PROGRAM=ninja -DCMAKE_POLICY_VERSION_MINIMUM=3.5 .. && cmake --build . --target all && cmake --build . --target install && cd ..
