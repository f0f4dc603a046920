
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
COPY --from=openbmc/ubuntu-unit-test-open-power-pdbg:2021-W06-37f499ae0315c989 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-gpioplus:2021-W06-199ead23e09901f8 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-libpeci:2021-W06-b8e3d260213bdfb6 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-libpldm:2021-W06-48ed9be2671e2e9d /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-phosphor-dbus-interfaces:2021-W06-32ac8c871b603a59 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-phosphor-logging:2021-W06-05077eb144d57975 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-phosphor-objmgr:2021-W06-1555829ca2b2542e /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-sdbusplus:2021-W06-2b518f987cb2acc8 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-sdeventplus:2021-W06-c8d5fd47dfe5bbee /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-stdplus:2021-W06-e2375271a095b42a /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-tristanpenman-valijson:2021-W06-f7abacc91770090f /usr/local /usr/local
RUN true


# Some of our infrastructure still relies on the presence of this file
# even though it is no longer needed to rebuild the docker environment
# NOTE: The file is sorted to ensure the ordering is stable.
RUN echo 'CLIUtils/CLI11:v2.6.1,DMTF/libspdm:3.8.2,LibVNC/libvncserver:LibVNCServer-0.9.15,NVIDIA/stdexec:0a6c3fc4324aed2ce291d49dd228cc3619b24dad,Naios/function2:4.2.4,USCiLab/cereal:v1.3.2,boost:1.90.0,fmtlib/fmt:11.2.0,google/googletest:v1.16.0,json-c/json-c:json-c-0.18-20240915,leethomason/tinyxml2:11.0.0,libgpiod:1.6.5,nghttp2/nghttp2:v1.68.0,nlohmann/json:v3.12.0,open-power/pdbg:55288ef80d797e2f60cf3d46fb2c6e420ec0dddf,openbmc/gpioplus:0ca769233da020d2041c807ecc0b0286e002800c,openbmc/libpeci:b15c20f22a2d9d768887902b2deb128e2d60328b,openbmc/libpldm:1029114549dccf159715547e708f350690a0cdc6,openbmc/phosphor-dbus-interfaces:9325f7dbe6ca1f2a61229eb0f7b2c096cb0c529f,openbmc/phosphor-logging:5443afa8c3876c84920998fc3e9acbe746430493,openbmc/phosphor-objmgr:753766a950d0821cfcd64fe430386f40b60b6cf7,openbmc/sdbusplus:e5be23b68825a78ed05cbc98e37685a1bbdd83d3,openbmc/sdeventplus:5871e9ad0001685328d073edd7e5266b9645d446,openbmc/stdplus:3e7e484d427b54a15b62f03621aeb39b10eb14d6,tristanpenman/valijson:v1.0.5,' > /tmp/depcache

# Ensure the group, user, and home directory are created (or rename them if
# they already exist).
RUN if grep -q ":1001:" /etc/group ; then         groupmod -n bob $(awk -F : '{ if ($3 == 1001) { print $1 } }' /etc/group) ;     else         groupadd -f -g 1001 bob ;     fi
RUN mkdir -p "/home/bob"
RUN if grep -q ":1000:" /etc/passwd ; then         usermod -l bob -d /home/bob/work -m $(awk -F : '{ if ($3 == 1000) { print $1 } }' /etc/passwd) ;     else         useradd -d /home/bob/work -m -u 1000 -g 1001 bob ;     fi
RUN sed -i '1iDefaults umask=000' /etc/sudoers
RUN echo "bob ALL=(ALL) NOPASSWD: ALL" >>/etc/sudoers

# Ensure user has ability to write to /usr/local for different tool
# and data installs
RUN chown -R bob:bob /usr/local/share

# Update library cache
RUN ldconfig



RUN /bin/bash
