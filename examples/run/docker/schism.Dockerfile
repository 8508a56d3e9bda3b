# Stands in for the guide's "rompy/schism:latest" and "rompy/model:latest" (no registry is
# reachable here): busybox FROM scratch, the model at /usr/local/bin/schism.
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY schism /usr/local/bin/schism
COPY mpiexec /usr/local/bin/mpiexec
RUN echo "schism-standin" > /MODEL_VERSION
