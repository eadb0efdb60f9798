"""Realistic article texts (written for these tests) in the shapes feeds deliver them."""

EN_TITLE = "CITY COUNCIL APPROVES NEW CYCLE LANES ALONG THE RIVERSIDE - Riverside Gazette"

EN_HTML = """
<p>The city council on Tuesday approved a plan to build 14 km of protected cycle lanes along the
Riverside embankment, ending a debate that had dragged on for almost three years.</p>
<p>The project, estimated at $12.5 million, will be paid for mostly by a regional transport
grant. Work is expected to start in March and to finish before the end of 2026, according to
Dr. Helen Park, who heads the council&rsquo;s transport committee.</p>
<figure><img src="lanes.jpg"><figcaption>Photo: Riverside Gazette</figcaption></figure>
<p>&ldquo;This is not about cyclists versus drivers,&rdquo; Park said. &ldquo;It is about making
the riverside safe for everyone, e.g. children who walk to school along it.&rdquo;</p>
<p>Local businesses were split. Some shop owners fear the loss of 120 parking spaces; others
expect more customers on bikes. A survey by the U.S. Chamber of Commerce found that cyclists
spend less per visit but visit more often.</p>
<p>Opponents, led by councillor J. R. Moss, argued that the cycle lanes would worsen congestion on
Bridge Street. The council rejected their amendment by 9 votes to 4.</p>
<p>The first section, between the old mill and the central bridge, will open in summer.
Cycle lanes on the riverside will be lit at night, and the council promised to review traffic
data after six months.</p>
<p><a href="https://example.com/lanes">Read more&hellip;</a></p>
<p>The post Council approves cycle lanes appeared first on Riverside Gazette.</p>
"""

RU_TITLE = "В Казани откроют новый парк на берегу Волги | Новости Татарстана"

RU_HTML = """
<p>Власти Казани утвердили проект нового парка на берегу Волги. Работы начнутся весной, а первую
очередь парка откроют летом 2025 г., сообщили в мэрии.</p>
<p>Площадь парка составит 18,5 гектара. По словам главного архитектора города А. В. Смирнова,
в парке появятся велодорожки, детские площадки и набережная длиной 2 км, т.е. почти вдвое
больше нынешней.</p>
<p>&laquo;Мы хотим, чтобы парк стал местом для всех горожан, а не только для туристов&raquo;, &mdash;
сказал Смирнов. Он добавил, что проект обсуждали с жителями на трёх публичных слушаниях.</p>
<p>Стоимость работ оценивается в 1,2 млрд руб. Большую часть средств выделит федеральный бюджет
по программе благоустройства, остальное &mdash; бюджет республики.</p>
<p>Экологи просят сохранить старые деревья на берегу. В мэрии пообещали, что парк
спроектируют так, чтобы сохранить не менее 90% деревьев.</p>
<p>Читать далее&hellip;</p>
"""


def long_text(paragraph: str, times: int) -> str:
    return "\n".join(f"<p>{paragraph}</p>" for _ in range(times))
