
FROM openbmc/ubuntu-unit-test-base:2021-W06-53b5a3c65fb874b7
COPY --from=openbmc/ubuntu-unit-test-uscilab-cereal:2021-W06-650760301959d701 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-phosphor-dbus-interfaces:2021-W06-387ec35b427637a7 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-sdbusplus:2021-W06-4e5c04c5f897fccf /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-sdeventplus:2021-W06-b28944353c07a18e /usr/local /usr/local
RUN true

RUN curl -L https://github.com/openbmc/phosphor-logging/archive/cfaf65b140f213ec45b212d8bc2b50b69e2a3c47.tar.gz | tar -xz && cd phosphor-logging* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local -Dlibonly=true -Dtests=disabled && ninja -C builddir && ninja -C builddir install
