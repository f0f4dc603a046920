
FROM acme/unit-base:2021-W06-76ffc5b405ed5331
COPY --from=acme/unit-openbmc-stdplus:2021-W06-adab29474c8d29eb /usr/local /usr/local
RUN true

RUN curl -L https://github.com/openbmc/sdeventplus/archive/5871e9ad0001685328d073edd7e5266b9645d446.tar.gz | tar -xz && cd sdeventplus* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dexamples=false -Dtests=disabled && ninja -C builddir && ninja -C builddir install
