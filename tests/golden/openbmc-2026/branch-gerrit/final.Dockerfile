
# Build the final output image
FROM openbmc/ubuntu-unit-test-base:2021-W06-53b5a3c65fb874b7
COPY --from=openbmc/ubuntu-unit-test-cliutils-cli11:2021-W06-fe3833a52630fd4e /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-dmtf-libspdm:2021-W06-98f24a36661c0ad7 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-libvnc-libvncserver:2021-W06-4e754f815c7acedd /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-nvidia-stdexec:2021-W06-7588fe477284c2c2 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-naios-function2:2021-W06-b95cc3d256ef2f1c /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-uscilab-cereal:2021-W06-650760301959d701 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-boost:2021-W06-afb163411bede05b /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-fmtlib-fmt:2021-W06-9fbfe3c58be5716a /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-google-googletest:2021-W06-3096c6fd07d3ca85 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-json-c-json-c:2021-W06-ff9c8a6518dbceff /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-leethomason-tinyxml2:2021-W06-99f5b8f788f17601 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-libgpiod:2021-W06-10437dd769d455f3 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-nghttp2-nghttp2:2021-W06-94b8f2e4b6fa89c1 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-nlohmann-json:2021-W06-85afb655f12932ce /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-open-power-pdbg:2021-W06-d5aa783b11ac7ab5 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-gpioplus:2021-W06-8326f39c21bf26b2 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-libpeci:2021-W06-74c32c8ce8faa463 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-libpldm:2021-W06-813d76451a8ebd1e /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-phosphor-dbus-interfaces:2021-W06-387ec35b427637a7 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-phosphor-logging:2021-W06-b682ff2c053a8e18 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-phosphor-objmgr:2021-W06-8c50f6e70e455ad3 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-sdbusplus:2021-W06-4e5c04c5f897fccf /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-sdeventplus:2021-W06-b28944353c07a18e /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-stdplus:2021-W06-2c9911adde30026e /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-tristanpenman-valijson:2021-W06-f7abacc91770090f /usr/local /usr/local
RUN true


# Some of our infrastructure still relies on the presence of this file
# even though it is no longer needed to rebuild the docker environment
# NOTE: The file is sorted to ensure the ordering is stable.
RUN echo 'CLIUtils/CLI11:v2.6.1,DMTF/libspdm:3.8.2,LibVNC/libvncserver:LibVNCServer-0.9.15,NVIDIA/stdexec:0a6c3fc4324aed2ce291d49dd228cc3619b24dad,Naios/function2:4.2.4,USCiLab/cereal:v1.3.2,boost:1.90.0,fmtlib/fmt:11.2.0,google/googletest:v1.16.0,json-c/json-c:json-c-0.18-20240915,leethomason/tinyxml2:11.0.0,libgpiod:1.6.5,nghttp2/nghttp2:v1.68.0,nlohmann/json:v3.12.0,open-power/pdbg:38fddc9f6567545d691855c83505d0d8bf25cfe9,openbmc/gpioplus:7fe65ea97c56bb0bf45feba5f1d9cf927f23bed7,openbmc/libpeci:769210a62c38848f47668c95c92fab2b8fcc7883,openbmc/libpldm:1fecae3d8e3c78666923db0d7bf6b829e83466af,openbmc/phosphor-dbus-interfaces:968a39c61774a1eadfff239f7e372c78216bbf3b,openbmc/phosphor-logging:cfaf65b140f213ec45b212d8bc2b50b69e2a3c47,openbmc/phosphor-objmgr:70005f864a4122445fe634a6ab87cecb33f0852f,openbmc/sdbusplus:0123456789abcdef0123456789abcdef01234567,openbmc/sdeventplus:5c9bbc0432e479a6817d02a75e0e791c9c07503e,openbmc/stdplus:2aa6a777e34f639bc871e057e5e8fc6f2926f5c7,tristanpenman/valijson:v1.0.5,' > /tmp/depcache

# Ensure the group, user, and home directory are created (or rename them if
# they already exist).
RUN if grep -q ":0:" /etc/group ; then         groupmod -n root $(awk -F : '{ if ($3 == 0) { print $1 } }' /etc/group) ;     else         groupadd -f -g 0 root ;     fi
RUN mkdir -p "/"
RUN if grep -q ":0:" /etc/passwd ; then         usermod -l root -d /root -m $(awk -F : '{ if ($3 == 0) { print $1 } }' /etc/passwd) ;     else         useradd -d /root -m -u 0 -g 0 root ;     fi
RUN sed -i '1iDefaults umask=000' /etc/sudoers
RUN echo "root ALL=(ALL) NOPASSWD: ALL" >>/etc/sudoers

# Ensure user has ability to write to /usr/local for different tool
# and data installs
RUN chown -R root:root /usr/local/share

# Update library cache
RUN ldconfig



RUN /bin/bash
