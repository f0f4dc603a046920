
FROM openbmc/ubuntu-unit-test-base:2021-W06-2e8f7b8a8cfe2675

RUN curl -L https://github.com/USCiLab/cereal/archive/v1.3.2.tar.gz | tar -xz && cd cereal* && cp -a include/cereal/ /usr/local/include/
