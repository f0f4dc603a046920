
FROM acme/unit-base:2021-W06-76ffc5b405ed5331
COPY --from=acme/unit-naios-function2:2021-W06-8f49de37544b19a9 /usr/local /usr/local
RUN true
COPY --from=acme/unit-fmtlib-fmt:2021-W06-1f91a0234d8bb52b /usr/local /usr/local
RUN true
COPY --from=acme/unit-google-googletest:2021-W06-00f84410ad4aa963 /usr/local /usr/local
RUN true

RUN curl -L https://github.com/openbmc/stdplus/archive/3e7e484d427b54a15b62f03621aeb39b10eb14d6.tar.gz | tar -xz && cd stdplus* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dexamples=false -Dtests=disabled -Dgtest=enabled && ninja -C builddir && ninja -C builddir install
