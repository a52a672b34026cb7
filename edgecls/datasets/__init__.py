"""Built-in data: the traffic-light renderer (`traffic_lights`) behind `edgecls data traffic-lights`
and the demo. Data, not training: it needs numpy and OpenCV only."""
