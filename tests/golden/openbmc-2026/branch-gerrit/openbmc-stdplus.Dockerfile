
FROM openbmc/ubuntu-unit-test-base:2021-W06-53b5a3c65fb874b7
COPY --from=openbmc/ubuntu-unit-test-naios-function2:2021-W06-b95cc3d256ef2f1c /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-fmtlib-fmt:2021-W06-9fbfe3c58be5716a /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-google-googletest:2021-W06-3096c6fd07d3ca85 /usr/local /usr/local
RUN true

RUN curl -L https://github.com/openbmc/stdplus/archive/2aa6a777e34f639bc871e057e5e8fc6f2926f5c7.tar.gz | tar -xz && cd stdplus* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dexamples=false -Dtests=disabled -Dgtest=enabled && ninja -C builddir && ninja -C builddir install
