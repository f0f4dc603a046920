
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
COPY --from=openbmc/ubuntu-unit-test-open-power-pdbg:2021-W06-b7e67b66f6621b90 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-gpioplus:2021-W06-6f6df536b0a28720 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-libpeci:2021-W06-a2f477f7821fd8de /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-libpldm:2021-W06-f8a28fdb8ebadd59 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-phosphor-dbus-interfaces:2021-W06-839d22f0bb710d40 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-phosphor-logging:2021-W06-1335739238526e1d /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-phosphor-objmgr:2021-W06-98848f353f4cbe60 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-sdbusplus:2021-W06-16baa4621b634ac3 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-sdeventplus:2021-W06-cb5805b930046cad /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-stdplus:2021-W06-d17cdd4d8cb64b97 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-tristanpenman-valijson:2021-W06-f7abacc91770090f /usr/local /usr/local
RUN true


# Some of our infrastructure still relies on the presence of this file
# even though it is no longer needed to rebuild the docker environment
# NOTE: The file is sorted to ensure the ordering is stable.
RUN echo 'CLIUtils/CLI11:v2.6.1,DMTF/libspdm:3.8.2,LibVNC/libvncserver:LibVNCServer-0.9.15,NVIDIA/stdexec:0a6c3fc4324aed2ce291d49dd228cc3619b24dad,Naios/function2:4.2.4,USCiLab/cereal:v1.3.2,boost:1.90.0,fmtlib/fmt:11.2.0,google/googletest:v1.16.0,json-c/json-c:json-c-0.18-20240915,leethomason/tinyxml2:11.0.0,libgpiod:1.6.5,nghttp2/nghttp2:v1.68.0,nlohmann/json:v3.12.0,open-power/pdbg:022a0cc3ccbcc0a2d572cfbef12f069924e30e72,openbmc/gpioplus:346a780583b29c44fa9964ee07f111d6c9ad14e7,openbmc/libpeci:2d0032e486df6e0686078025b04652bf331026ab,openbmc/libpldm:9e6a017bf6c3ee2de9018ab85ae75f2309332ac1,openbmc/phosphor-dbus-interfaces:7f9294b8b2b721e20a471b44edc1b46bee45a64b,openbmc/phosphor-logging:1a10eae7c1e8c60b3e8e950df6a0437a6c83921c,openbmc/phosphor-objmgr:4ec013ef469bac814d1690e6b63fffbb6f01e9a2,openbmc/sdbusplus:ecccaf504934ff961f9b1d0965c6b104c9d2b693,openbmc/sdeventplus:34416c5ec3799ddde8889e9c9ae0d9fff1d46851,openbmc/stdplus:1f80b84a90c21dd9630ea00b5c0ddfb14c96f7c7,tristanpenman/valijson:v1.0.5,' > /tmp/depcache

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
