
FROM acme/unit-base:2021-W06-76ffc5b405ed5331
COPY --from=acme/unit-nvidia-stdexec:2021-W06-0a9dbb6988fff109 /usr/local /usr/local
RUN true
COPY --from=acme/unit-nlohmann-json:2021-W06-218631bb188c107f /usr/local /usr/local
RUN true

RUN curl -L https://github.com/openbmc/sdbusplus/archive/e5be23b68825a78ed05cbc98e37685a1bbdd83d3.tar.gz | tar -xz && cd sdbusplus* && cd tools && python3 -m pip install --break-system-packages --root-user-action ignore . && cd .. &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dexamples=disabled -Dtests=disabled && ninja -C builddir && ninja -C builddir install
