
FROM openbmc/ubuntu-unit-test-base:2021-W06-2e8f7b8a8cfe2675
COPY --from=openbmc/ubuntu-unit-test-naios-function2:2021-W06-3a45a5fbecf17e3d /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-fmtlib-fmt:2021-W06-1af7fdc83efc9865 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-google-googletest:2021-W06-55bdc6ac5d19d115 /usr/local /usr/local
RUN true

RUN curl -L https://github.com/openbmc/stdplus/archive/3e7e484d427b54a15b62f03621aeb39b10eb14d6.tar.gz | tar -xz && cd stdplus* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dexamples=false -Dtests=disabled -Dgtest=enabled && ninja -C builddir && ninja -C builddir install
