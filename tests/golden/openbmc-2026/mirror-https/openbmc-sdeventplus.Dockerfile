
FROM openbmc/ubuntu-unit-test-base:2021-W06-2e8f7b8a8cfe2675
COPY --from=openbmc/ubuntu-unit-test-openbmc-stdplus:2021-W06-a9f88ef8dd6299d5 /usr/local /usr/local
RUN true

RUN curl -L https://github.com/openbmc/sdeventplus/archive/5871e9ad0001685328d073edd7e5266b9645d446.tar.gz | tar -xz && cd sdeventplus* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dexamples=false -Dtests=disabled && ninja -C builddir && ninja -C builddir install
