
FROM openbmc/ubuntu-unit-test-base:2021-W06-53b5a3c65fb874b7
COPY --from=openbmc/ubuntu-unit-test-nvidia-stdexec:2021-W06-7588fe477284c2c2 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-nlohmann-json:2021-W06-85afb655f12932ce /usr/local /usr/local
RUN true

RUN curl -L https://github.com/openbmc/sdbusplus/archive/0123456789abcdef0123456789abcdef01234567.tar.gz | tar -xz && cd sdbusplus* && cd tools && python3 -m pip install --break-system-packages --root-user-action ignore . && cd .. &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dexamples=disabled -Dtests=disabled && ninja -C builddir && ninja -C builddir install
