
FROM openbmc/ubuntu-unit-test-base:2021-W06-2e8f7b8a8cfe2675
COPY --from=openbmc/ubuntu-unit-test-nvidia-stdexec:2021-W06-4a2cabfc18e7a909 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-nlohmann-json:2021-W06-c57fcfe563687c76 /usr/local /usr/local
RUN true

RUN curl -L https://github.com/openbmc/sdbusplus/archive/e5be23b68825a78ed05cbc98e37685a1bbdd83d3.tar.gz | tar -xz && cd sdbusplus* && cd tools && python3 -m pip install --break-system-packages --root-user-action ignore . && cd .. &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dexamples=disabled -Dtests=disabled && ninja -C builddir && ninja -C builddir install
